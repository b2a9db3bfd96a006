"""The tables of the docs that come from the code: each a Markdown text built from a registry at build time.

- :func:`signature_tables`: the signature library (``tk.signatures.list()`` and each ``Signature``);
- :func:`rule_tables`: the rule sets of ``tk.tl.RULES`` and the shipped expression models;
- :func:`cli_reference`: ``tmekit --help`` and every command's help, as the command line prints them;
- :func:`refusal_table`: the refused inputs, from the ``CASES`` of ``tests/test_bad_inputs*.py`` (each case is a
  test there, so the table lists exactly what the suite checks).

Nothing here is written by hand: a change to a registry changes the page at the next build.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

import tmekit as tk

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

_DOI = re.compile(r"(?:doi:\s*|https?://doi\.org/)(10\.\d{4,9}/[^\s;,)]+[^\s;,).])", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _cell(text: object) -> str:
    """One table cell: no line breaks, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _link_dois(text: str) -> str:
    return _DOI.sub(lambda m: f"[doi:{m.group(1)}](https://doi.org/{m.group(1)})", text)


def _number(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------- signatures
def _references(row: pd.Series) -> str:
    refs = []
    if row["doi"]:
        refs.append(f"[doi:{row['doi']}](https://doi.org/{row['doi']})")
    if row["pmid"]:
        refs.append(f"[PMID {row['pmid']}](https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/)")
    return "; ".join(refs) or "(none)"


def headline_table() -> str:
    """The five headline modules: the name users ask for, the set behind it, its genes and source."""
    library = tk.signatures.list()
    lines = ["| module | signature | genes | source | reference |", "|---|---|---|---|---|"]
    for name, row in library[library["headline"] != ""].iterrows():
        sig = tk.signatures.get(str(name))
        cells = [row["headline"], f"`{name}`", ", ".join(sig.genes), row["citation"], _references(row)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def signature_tables() -> str:
    """One table per category: name and title, genes (down genes marked), source, reference, verification."""
    library = tk.signatures.list()
    lines = [
        f"{len(library)} signatures ({(library['species'] == 'human').sum()} human, "
        f"{(library['species'] == 'mouse').sum()} mouse), generated from `tk.signatures.list()` when these pages "
        "were built. Genes are as scored; a gene marked `(down)` counts against the set, and weighted sets "
        "show each gene's published weight.",
        "",
    ]
    for category, rows in library.groupby("category", sort=True):
        lines += [f"### {category}", "", "| signature | genes | source | reference | verified |"]
        lines += ["|---|---|---|---|---|"]
        for name, row in rows.iterrows():
            sig = tk.signatures.get(str(name))
            weights = dict(sig.weights or {})

            def gene(g: str, *, down: bool, weights: dict[str, float] = weights) -> str:
                return g + (f" ({weights[g]:+g})" if g in weights else " (down)" if down else "")

            genes = [gene(g, down=False) for g in sig.genes_up] + [gene(g, down=True) for g in sig.genes_down]
            title = f"`{name}`: {row['title']}" + (f" ({row['species']})" if row["species"] != "human" else "")
            if row["headline"]:
                title += f"; headline module **{row['headline']}**"
            cells = [title, ", ".join(genes), row["citation"], _references(row), row["verified"]]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- rule sets
def rules_summary() -> str:
    """One row per registered rule set: data, classes, thresholds, extra inputs, linked to its full entry."""
    lines = ["| rule set | data | classes | thresholds | needs |", "|---|---|---|---|---|"]
    for name, rule in tk.tl.RULES.items():
        thresholds = ", ".join(f"`{k}` = {_number(v)}" for k, v in rule.thresholds.items())
        link = f"{{ref}}`{name} <rule-{name.replace('_', '-')}>`"
        cells = [link, rule.data, " / ".join(rule.classes), thresholds, ", ".join(rule.needs)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def rule_tables() -> str:
    """The summary, one section per rule set (description, reads, thresholds, source), and the shipped models."""
    lines = [rules_summary()]
    for name, rule in tk.tl.RULES.items():
        lines += [f"(rule-{name.replace('_', '-')})=", f"## `{name}`", "", _link_dois(rule.description), ""]
        lines += [f"- **Classes**: {', '.join(rule.classes)} (or indeterminate)"]
        if rule.aliases:
            lines += [f"- **Also called**: {'; '.join(f'{k}: {v}' for k, v in rule.aliases.items())}"]
        lines += [f"- **Reads**: {', '.join(f'`{m}`' for m in rule.reads)}"]
        lines += [f"- **Thresholds**: {', '.join(f'`{k}` = {_number(v)}' for k, v in rule.thresholds.items())}"]
        if rule.needs:
            lines += [f"- **Needs**: {', '.join(rule.needs)}"]
        lines += [f"- **Source**: {_link_dois(rule.source)}", ""]
    lines += [_model_table()]
    return "\n".join(lines)


def _model_table() -> str:
    from tmekit.tl._phenotype.til_pdl1_expression import til_pdl1_models

    models = {"phenotype (default)": tk.tl.load_phenotype_model()}
    models |= {f"til_pdl1: {part}": model for part, model in til_pdl1_models().items()}
    lines = [
        "## Shipped expression models",
        "",
        "Generated from each model's provenance (`tk.tl.load_phenotype_model().provenance`). Balanced accuracy is "
        "nested cross-validation (mean +/- SD over the outer folds).",
        "",
        "| model | classes | features (genes) | samples | balanced accuracy | data |",
        "|---|---|---|---|---|---|",
    ]
    for label, model in models.items():
        prov = model.provenance
        cv = prov.get("cv", {})
        accuracy = f"{cv['balanced_accuracy_mean']:.3f} +/- {cv['balanced_accuracy_sd']:.3f}" if cv else ""
        features = "; ".join(f"{k}: {' '.join(genes)}" for k, genes in model.features.items())
        cells = [f"{label} (`{model.name}`)", " / ".join(model.classes), features, prov.get("n_samples", ""),
                 accuracy, _link_dois(str(prov.get("data", "")))]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- command line
def _help(args: list[str]) -> str:
    from typer.testing import CliRunner

    from tmekit.cli import app

    env = {"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="tmekit", env=env)
    if result.exit_code != 0:
        msg = f"`tmekit {' '.join(args)} --help` exited with {result.exit_code}: {result.output}"
        raise RuntimeError(msg)
    text = _ANSI.sub("", result.output)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def cli_reference() -> str:
    """Each command's ``--help``, in the order ``tmekit --help`` lists them, captured in-process."""
    import typer

    from tmekit.cli import app

    group = typer.main.get_command(app)
    sections = ["## `tmekit`", "", "```text", _help([]), "```", ""]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        sections += [f"## `tmekit {name}`", "", "```text", _help([name]), "```", ""]
        for sub in getattr(command, "commands", {}):
            sections += [f"### `tmekit {name} {sub}`", "", "```text", _help([name, sub]), "```", ""]
    return "\n".join(sections)


# ---------------------------------------------------------------------------------------------- refusals
def bad_input_cases(tests: Path) -> list[tuple[str, str, str, str]]:
    """``(file, case, input, what tmekit does)`` of every bad-input test file, in the suite's order."""
    files = [tests / "test_bad_inputs.py", *sorted(tests.glob("test_bad_inputs_*.py"))]
    rows = []
    for path in files:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CASES" for t in node.targets):
                cases = ast.literal_eval(node.value)
                rows += [(path.name, case, given, done) for case, (given, done) in cases.items()]
    return rows


def refusal_table(tests: Path) -> str:
    """The refused inputs as a table: input, what tmekit does, and the test that checks it."""
    rows = bad_input_cases(tests)
    lines = [
        f"{len(rows)} inputs, generated from the `CASES` of `tests/test_bad_inputs*.py` when these pages were built: "
        "each row is the test named beside it, so the table lists exactly what the suite checks on every run.",
        "",
        "| input | what tmekit does | test |",
        "|---|---|---|",
    ]
    lines += [f"| {_cell(given)} | {_cell(done)} | `{file}::test_{case}` |" for file, case, given, done in rows]
    return "\n".join(lines) + "\n"
