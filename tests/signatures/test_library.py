"""The shipped library: provenance, hashes, published gene lists, HGNC symbols, coverage, packaging."""

from __future__ import annotations

import gzip
import hashlib
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import tmekit as tk
from tmekit._constants import HEADLINE_SIGNATURES, VERIFICATION_LEVELS

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "signatures"
REGISTRY = pd.read_csv(LIB / "registry.tsv", sep="\t", dtype=str, keep_default_na=False)


def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(LIB / "sets" / f"{name}.tsv", sep="\t", dtype=str, keep_default_na=False)


def test_registry_and_tables_match_one_to_one():
    tables = {p.stem for p in (LIB / "sets").glob("*.tsv")}
    assert tables == set(REGISTRY["name"])
    assert REGISTRY["name"].is_unique


@pytest.mark.parametrize("name", REGISTRY["name"])
def test_registry_hash_matches_table(name):
    # Independent re-implementation of the documented hash: sorted "gene\tdirection\tweight\n" lines.
    table = _table(name)
    lines = sorted(
        f"{g}\t{d}\t{repr(float(w)) if w else ''}\n"
        for g, d, w in zip(table.gene, table.direction, table.weight, strict=False)
    )
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    row = REGISTRY.set_index("name").loc[name]
    assert row["sha256"] == expected
    assert int(row["n_up"]) == (table.direction == "up").sum()
    assert int(row["n_down"]) == (table.direction == "down").sum()
    assert tk.signatures.get(name).sha256 == expected


@pytest.mark.parametrize("row", REGISTRY.to_dict("records"), ids=list(REGISTRY["name"]))
def test_every_set_carries_provenance(row):
    assert row["citation"]
    assert row["doi"] or row["pmid"], "a citation needs a DOI and/or a PMID"
    if row["doi"]:
        assert re.fullmatch(r"10\.\d{4,9}/\S+", row["doi"])
    if row["pmid"]:
        assert re.fullmatch(r"\d{7,8}", row["pmid"])
    assert row["verified"] in VERIFICATION_LEVELS
    assert row["verified_against"], "say what was checked, or that nothing could be"
    assert row["species"] == ("mouse" if "_mouse_" in row["name"] else "human")
    assert row["gene_id_type"] == "symbol"
    assert row["version"]


@pytest.mark.parametrize("row", REGISTRY.to_dict("records"), ids=list(REGISTRY["name"]))
def test_no_set_is_filed_under_another_papers_name(row):
    name = row["name"]
    if name.endswith("_curated"):
        assert row["verified"] == "curated"
        assert row["citation"].startswith("tmekit curation")
        return
    m = re.search(r"_([a-z]+)(\d{4})$", name)
    if name.startswith("marker_") and m is None:
        return
    assert m, f"{name} should end in <firstauthor><year>"
    author, year = m.groups()
    first_author = row["citation"].split(",")[0].split()[0].lower().replace("-", "")  # Sade-Feldman: sadefeldman
    assert first_author == author, f"{name} is filed under {author} but cites {row['citation'][:40]}"
    assert year in row["citation"]


def test_tls_and_chemokine_sets_are_not_confused():
    assert tk.signatures.get("tls_cabrita2020").citation.startswith("Cabrita")
    assert "Cabrita" not in tk.signatures.get("chemokine12_messina2012").citation
    assert set(tk.signatures.get("tls_cabrita2020").genes) == {
        "CD79B", "CD1D", "CCR6", "LAT", "SKAP1", "CETP", "EIF1AY", "RBP5", "PTGDS"
    }  # fmt: skip


def test_required_modules_are_present():
    required = [
        "exhaustion_core_curated", "m2_tam_bagaev2021", "cxcl13_t_zheng2021", "ifng6_ayers2017",
        "expanded_immune18_ayers2017", "gep18_weighted_cristescu2018", "hypoxia_buffa2010", "hypoxia_ragnum2015",
        "cd8_teff_mariathasan2018", "cyt_rooney2015", "pan_ftbrs_mariathasan2018", "caf_bagaev2021",
        "apm_mariathasan2018", "mhc1_bagaev2021", "mhc2_bagaev2021", "treg_bagaev2021", "mdsc_bagaev2021",
        "t_cells_bagaev2021", "tls_cabrita2020", "chemokine12_messina2012", "proliferation_bagaev2021",
        "wnt_targets_mariathasan2018", "m1_bagaev2021",
    ]  # fmt: skip
    missing = set(required) - set(REGISTRY["name"])
    assert not missing
    markers = set(REGISTRY.loc[REGISTRY.category == "cell_identity", "name"])
    assert markers == {
        f"marker_{t}"
        for t in ("epithelial", "melanocytic", "immune", "t_nk", "t", "t_tcr", "cd8_t", "cd4_t", "treg", "b",
                  "b_scgate", "plasma", "nk", "myeloid", "macrophage", "monocyte", "dc", "mast", "caf", "perivascular",
                  "endothelial")
    }  # fmt: skip
    assert set(HEADLINE_SIGNATURES.values()) <= set(REGISTRY["name"])


def test_exhaustion_contains_the_canonical_markers():
    genes = set(tk.signatures.get("T-cell exhaustion").genes_up)
    assert {"PDCD1", "HAVCR2", "LAG3", "TIGIT", "CTLA4", "TOX"} <= genes


def test_ayers_sets_are_exact_and_distinct():
    assert tk.signatures.get("ifng6_ayers2017").genes_up == ("IFNG", "STAT1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA")
    expanded = tk.signatures.get("expanded_immune18_ayers2017")
    assert set(expanded.genes_up) == set(
        "CD3D IDO1 CIITA CD3E CCL5 GZMK CD2 HLA-DRA CXCL13 IL2RG NKG7 HLA-E CXCR6 LAG3 TAGAP CXCL10 STAT1 GZMB".split()
    )
    assert not expanded.is_weighted
    gep = tk.signatures.get("gep18_weighted_cristescu2018")
    assert gep.is_weighted and gep.n_genes == 18
    # Pinned against the corrupted public copy (CD276 = +0.004313, CD27 = 0.076189, HLA-E = 0.058806).
    assert gep.weights["CD276"] == pytest.approx(-0.0239)
    assert gep.genes_down == ("CD276",)
    assert gep.weights["STAT1"] == pytest.approx(0.250229)
    assert gep.weights["CD27"] == pytest.approx(0.072293)
    assert gep.weights["HLA-E"] == pytest.approx(0.07175)
    assert sum(gep.weights.values()) == pytest.approx(1.142788, abs=1e-9)  # hand-summed published weights
    hk = tk.signatures.get("gep_housekeeping_cristescu2018").genes_up
    assert set(hk) == set("STK11IP ZBTB34 TBC1D10B OAZ1 POLR2A G6PD ABCF1 NRDE2 UBB TBP SDHA".split())
    assert "C14orf102" in tk.signatures.get("gep_housekeeping_cristescu2018").aliases["NRDE2"]


def test_buffa_uses_current_symbols_with_published_names_as_aliases():
    buffa = tk.signatures.get("hypoxia_buffa2010")
    assert buffa.n_genes == 51
    renamed = {
        "UTP11L": "UTP11",
        "C20orf20": "MRGBP",
        "RBM35A": "ESRP1",
        "CTSL2": "CTSV",
        "HIG2": "HILPDA",
        "NP": "PNP",
    }
    for old, new in renamed.items():
        assert old not in buffa.genes
        assert new in buffa.genes
        assert old in buffa.aliases[new], (old, new)
    # AK3L1 was a previous symbol of both AK4 and AK3: it must not resolve silently to either.
    assert "AK4" in buffa.genes
    assert "AK3L1" not in buffa.aliases.get("AK4", ())


def test_pan_ftbrs_current_symbols():
    ftbrs = tk.signatures.get("pan_ftbrs_mariathasan2018")
    assert ftbrs.n_genes == 19
    assert "CTGF" in ftbrs.aliases["CCN2"]
    assert "FAM101B" in ftbrs.aliases["RFLNB"]


def test_library_genes_present_in_the_wu2021_matrix(wu_counts):
    # The bundled file is the shared Wu 2021 CID4465 matrix (29,733 genes); see test below.
    present = set(wu_counts.var_names)
    assert len(present) == 29_733
    absent = set()
    human = REGISTRY.loc[REGISTRY["species"] == "human", "name"]
    for name, sig in {n: tk.signatures.get(n) for n in human}.items():
        for gene in sig.genes:
            if gene not in present and not any(a in present for a in sig.aliases.get(gene, ())):
                absent.add((name, gene))
    documented = pd.read_csv(LIB / "known_absent.tsv", sep="\t", dtype=str)
    documented = documented[documented.dataset == "wu2021_cid4465"]
    assert absent == set(zip(documented.signature, documented.gene, strict=False))
    assert documented["reason"].str.len().min() > 40


def test_bundled_wu_matches_shared_copy(shared_data, wu_counts, read_shared):
    shared = read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad")
    assert list(shared.var_names) == list(wu_counts.var_names)
    assert (shared.X != wu_counts.X).nnz == 0


def test_every_gene_is_an_approved_hgnc_symbol_and_aliases_are_safe(shared_data):
    with gzip.open(shared_data / "reference" / "hgnc_symbols.tsv.gz", "rt") as fh:
        hgnc = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    approved = set(hgnc["symbol"])
    for name in REGISTRY.loc[REGISTRY["species"] == "human", "name"]:
        sig = tk.signatures.get(name)
        assert set(sig.genes) <= approved, (name, set(sig.genes) - approved)
        for gene, aliases in sig.aliases.items():
            assert not set(aliases) & approved, (name, gene, set(aliases) & approved)


def test_mouse_sets_use_mouse_symbols_of_the_ortholog_table():
    mouse_symbols = set(tk.signatures.orthologs()["mouse_symbol"])
    names = REGISTRY.loc[REGISTRY["species"] == "mouse", "name"].tolist()
    assert sorted(names) == ["m2_macrophage_mouse_murray2011", "mhc1_mouse_curated", "mhc2_mouse_curated"]
    for name in names:
        sig = tk.signatures.get(name)
        assert sig.species == "mouse" and not any(sig.aliases.values())
        assert set(sig.genes) <= mouse_symbols, (name, set(sig.genes) - mouse_symbols)
    # the mouse-only M2 markers the issue names, next to Mrc1; no H2-Ea (no I-E in C57BL/6 mice)
    assert {"Arg1", "Retnla", "Chil3", "Mrc1"} <= set(tk.signatures.get("m2_macrophage_mouse_murray2011").genes)
    assert "H2-Ea" not in tk.signatures.get("mhc2_mouse_curated").genes


def test_library_is_shipped_in_the_wheel(tmp_path):
    from hatchling.builders.wheel import WheelBuilder

    wheel = Path(next(iter(WheelBuilder(str(REPO)).build(directory=str(tmp_path), versions=["standard"]))))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tmekit/_signatures/registry.tsv" in names
    assert "tmekit/_signatures/orthologs/human_mouse.tsv.gz" in names  # read by translate / species="auto"
    assert {f"tmekit/_signatures/sets/{n}.tsv" for n in REGISTRY["name"]} <= names
    assert "tmekit/datasets/data/wu2021_cid4465_tnbc.h5ad" in names
    assert "tmekit/tl/models/imvigor210_cd8_phenotype.json" in names  # the calibrated phenotype model
    assert "tmekit/tl/models/imvigor210_til_pdl1.json" in names  # the TIL x PD-L1 expression models
    assert "tmekit/py.typed" in names
