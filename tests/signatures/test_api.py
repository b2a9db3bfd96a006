"""Signature API: list/get, user-defined sets, GMT round trips, validation errors."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import tmekit as tk
from tmekit.signatures import Signature


def test_list_returns_one_row_per_signature():
    table = tk.signatures.list()
    assert isinstance(table, pd.DataFrame)
    assert table.index.name == "name"
    assert {"category", "n_genes", "citation", "doi", "pmid", "verified", "headline"} <= set(table.columns)
    assert len(table) == 62  # 59 human + 3 mouse-specific sets
    assert table.loc["ifng6_ayers2017", "n_genes"] == 6
    assert table.loc["gep18_weighted_cristescu2018", "weighted"]
    assert table.loc["m2_tam_bagaev2021", "headline"] == "M2 TAM"
    hyp = tk.signatures.list(category="hypoxia")
    assert set(hyp.index) == {"hypoxia_buffa2010", "hypoxia_ragnum2015"}


def test_list_unknown_category():
    with pytest.raises(ValueError, match=r"Unknown signature category 'hypoxic'.*'hypoxia'"):
        tk.signatures.list(category="hypoxic")


def test_get_by_name_case_and_module():
    sig = tk.signatures.get("ifng6_ayers2017")
    assert isinstance(sig, Signature)
    assert sig.doi == "10.1172/JCI91190"
    assert sig.pmid == "28650338"
    assert tk.signatures.get("IFNG6_AYERS2017") is sig
    assert tk.signatures.get("IFN-gamma pathway") is sig
    assert tk.signatures.get("hypoxia").name == "hypoxia_buffa2010"
    assert [s.name for s in tk.signatures.headline()] == [
        "exhaustion_core_curated", "m2_tam_bagaev2021", "cxcl13_t_zheng2021", "ifng6_ayers2017", "hypoxia_buffa2010"
    ]  # fmt: skip


def test_get_unknown_name_suggests_closest():
    with pytest.raises(KeyError, match=r"ifng6_ayers2017") as err:
        tk.signatures.get("ifng6_ayer2017")
    assert "Closest matches" in str(err.value)
    with pytest.raises(KeyError, match=r"tk\.signatures\.list"):
        tk.signatures.get("zzzzzz")


def test_signature_fields_and_frame():
    sig = tk.signatures.get("gep18_weighted_cristescu2018")
    frame = sig.to_frame()
    assert list(frame.columns) == ["gene", "direction", "weight", "aliases"]
    assert frame.set_index("gene").loc["CD276", "direction"] == "down"
    assert sig.provenance()["sha256"] == sig.sha256
    assert "down" in repr(sig) and "weighted" in repr(sig)


def test_from_dict_forms():
    sigs = tk.signatures.from_dict(
        {
            "plain": ["CD3D", "CD3E"],
            "signed": {"up": ["CXCL13"], "down": ["TCF7"], "citation": "me", "pmid": 123},
            "weighted": {"up": ["A", "B"], "down": ["C"], "weights": {"A": 1, "B": 0.5, "C": -2}},
        }
    )
    plain, signed, weighted = sigs
    assert plain.genes_up == ("CD3D", "CD3E") and plain.genes_down == ()
    assert plain.category == "user" and plain.version == "user"
    assert signed.genes_down == ("TCF7",) and signed.pmid == "123"
    assert weighted.weights == {"A": 1.0, "B": 0.5, "C": -2.0}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"s": "CD3D"}, "got str"),
        ({"s": {"genes": ["A"]}}, "unknown keys"),
        ({"s": []}, "has no genes"),
        ({"s": ["A", "A"]}, "more than once"),
        ({"s": {"up": ["A"], "down": ["A"]}}, "both up and down"),
        ({"s": {"up": ["A", "B"], "weights": {"A": 1}}}, "without a weight"),
        ({"s": {"up": ["A"], "down": ["B"], "weights": {"A": 1, "B": 1}}}, "negative weights"),
        ({"s": {"up": ["A"], "weights": {"A": float("nan")}}}, "not a finite number"),
        ({"s": 5}, "expected a list of genes"),
    ],
)
def test_from_dict_rejects_bad_sets(spec, match):
    with pytest.raises((ValueError, TypeError), match=match):
        tk.signatures.from_dict(spec)


def test_gmt_round_trip(tmp_path):
    sigs = [
        tk.signatures.get("cd8_teff_mariathasan2018"),
        *tk.signatures.from_dict({"signed": {"up": ["CXCL13", "PDCD1"], "down": ["TCF7", "IL7R"]}}),
    ]
    path = tk.signatures.write_gmt(sigs, tmp_path / "sets.gmt")
    text = path.read_text()
    assert text.splitlines()[1].split("\t")[2:] == ["CXCL13", "PDCD1", "TCF7-", "IL7R-"]
    back = tk.signatures.read_gmt(path)
    assert [s.name for s in back] == ["cd8_teff_mariathasan2018", "signed"]
    assert back[0].genes_up == sigs[0].genes_up
    assert back[0].description.startswith("Mariathasan")
    assert back[1].genes_down == ("TCF7", "IL7R")
    assert back[0].sha256 == sigs[0].sha256  # same content, same hash
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary file


def test_write_gmt_warns_on_weights_and_refuses_to_overwrite(tmp_path):
    gep = tk.signatures.get("gep18_weighted_cristescu2018")
    with pytest.warns(tk.WeightsDroppedWarning, match="weights"):
        tk.signatures.write_gmt([gep], tmp_path / "gep.gmt")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tk.signatures.write_gmt([gep], tmp_path / "gep.gmt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.WeightsDroppedWarning)
        tk.signatures.write_gmt([tk.signatures.get("cyt_rooney2015")], tmp_path / "gep.gmt", overwrite=True)
    assert tk.signatures.read_gmt(tmp_path / "gep.gmt")[0].genes_up == ("GZMA", "PRF1")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("set1 desc CD3D CD3E\n", "separated by TABs"),
        ("a\tdesc\tCD3D\na\tdesc\tCD3E\n", "appears twice"),
        ("a\tdesc\tCD3D\tCD3D\n", "more than once"),
        ("# only a comment\n", "contains no gene sets"),
    ],
)
def test_read_gmt_errors(tmp_path, content, match):
    path = tmp_path / "bad.gmt"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        tk.signatures.read_gmt(path)


def test_read_gmt_missing_and_binary(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tk.signatures.read_gmt(tmp_path / "nope.gmt")
    binary = tmp_path / "bin.gmt"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ValueError, match="not a text GMT file"):
        tk.signatures.read_gmt(binary)


def test_resolve_accepts_every_form(tmp_path):
    gmt = tmp_path / "x.gmt"
    gmt.write_text("mine\tdesc\tCD3D\tCD3E\n")
    assert [s.name for s in tk.signatures.resolve("cyt_rooney2015")] == ["cyt_rooney2015"]
    assert [s.name for s in tk.signatures.resolve(["cyt_rooney2015", tk.signatures.get("ifng6_ayers2017")])] == [
        "cyt_rooney2015",
        "ifng6_ayers2017",
    ]
    assert [s.name for s in tk.signatures.resolve({"a": ["CD3D"]})] == ["a"]
    assert [s.name for s in tk.signatures.resolve(gmt)] == ["mine"]
    assert [s.name for s in tk.signatures.resolve(str(gmt))] == ["mine"]
    with pytest.raises(ValueError, match="unique"):
        tk.signatures.resolve(["cyt_rooney2015", "cyt_rooney2015"])
    with pytest.raises(ValueError, match="No signatures"):
        tk.signatures.resolve([])
    with pytest.raises(TypeError):
        tk.signatures.resolve(3)  # type: ignore[arg-type]
