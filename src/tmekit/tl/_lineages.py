"""The cell-type hierarchy `tk.tl.annotate` walks: lineage first, then the types within it.

One tree serves RNA and protein panels: each node names its marker set for RNA (a library signature, genes up and
down) and its channels for protein panels (canonical protein names, matched to a panel's channel names through the
synonyms of ``tmekit.tl._protein``). A cell goes down the tree while one child clearly wins among the children its
data can measure; where it stops, its label is that node's (``T cell`` when CD8 vs CD4 cannot be decided), and
``unassigned`` when no lineage wins. Proliferation markers are in no set, so a cycling cell keeps its lineage.

Each node also says which roles its label has for the spatial frameworks (``tumor``, ``immune``, ``t``, ``cd8``):
:func:`tmekit.tl.annotate` declares them for its own labels, so nobody types the label lists by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TREE", "TUMOR_LINEAGES", "UNASSIGNED", "Node", "labels", "nodes", "roles_of"]

UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class Node:
    """A cell type: its label, marker set (RNA), channels (protein: up and down), roles, and subtypes.

    ``lifts``: the modalities (``"rna"``, ``"protein"``) in which the node's markers are specific enough to count
    for its parent too (a cell with T-cell receptor transcripts is an immune cell even where PTPRC dropped out); a
    node's score as a child is then the highest of its own and its lifting children's. Sets with genes other
    lineages express (monocyte S100A8/9, which some carcinomas express) do not lift. Tregs lift to CD4 T on protein
    panels only: FoxP3 protein marks CD4 Tregs, while the RNA set's CTLA4, TNFRSF18, IKZF2 and IL10 are expressed
    by exhausted CD8 T cells too.
    """

    label: str
    rna: str | None = None
    protein: tuple[str, ...] = ()
    protein_down: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    children: tuple[Node, ...] = field(default=())
    lifts: tuple[str, ...] = ()


_T = ("immune", "t")
#: Lifts in both modalities (``Node.lifts``).
_BOTH = ("rna", "protein")
#: Protein panels: carcinoma cells low in keratin are still gated tumour by EGFR or p53 (Keren et al. 2018's tumour
#: gate: EGFR, Keratin17, Keratin6, p53 or Pan-Keratin above its cut; angelolab/TNBC MibiTNBCGateTumor180901.m).
_TUMOUR_GATE = ("EGFR", "p53")
#: Protein panels: a cell high in any leukocyte lineage marker is immune even where CD45 is dim.
_LEUKOCYTE = ("CD3", "CD20", "CD68", "CD163", "CD11c", "CD56", "MPO", "CD14", "CD11b", "CD4", "CD8")
TREE = Node(
    "root",
    children=(
        Node("Epithelial", "marker_epithelial", ("Pan-Keratin", "Keratin", "E-cadherin", "EpCAM", "Beta-catenin",
                                                 *_TUMOUR_GATE), ("CD45",), roles=("tumor_lineage",)),
        Node("Melanoma", "marker_melanocytic", ("SOX10", "MelanA", "PMEL", "S100"), ("CD45",),
             roles=("tumor_lineage",)),
        Node(
            "Immune", "marker_immune", ("CD45", *_LEUKOCYTE), ("Pan-Keratin", "Keratin"), roles=("immune",),
            children=(
                Node(
                    "T or NK", "marker_t_nk", ("CD3", "CD56", "CD7", "CD2"), roles=("immune",), lifts=_BOTH,
                    children=(
                        Node(
                            "T cell", "marker_t_tcr", ("CD3",), roles=_T, lifts=_BOTH,
                            children=(
                                Node("CD8 T", "marker_cd8_t", ("CD8",), ("CD4",), roles=(*_T, "cd8")),
                                Node("CD4 T", "marker_cd4_t", ("CD4",), ("CD8",), roles=_T,
                                     children=(Node("Treg", "marker_treg", ("FoxP3",), roles=_T, lifts=("protein",)),)),
                            ),
                        ),
                        Node("NK", "marker_nk", ("CD56", "CD16"), ("CD3",), roles=("immune",)),
                    ),
                ),
                Node("B cell", "marker_b_scgate", ("CD20", "CD19", "PAX5"), ("CD3",), roles=("immune",), lifts=_BOTH),
                Node(
                    "Myeloid", "marker_myeloid", ("CD68", "CD163", "CD11c", "CD14", "CD11b", "CD33", "MPO", "CD15"),
                    ("CD3", "CD20"), roles=("immune",), lifts=_BOTH,
                    children=(
                        Node("Macrophage", "marker_macrophage", ("CD68", "CD163", "CD206", "CSF-1R"),
                             roles=("immune",)),
                        Node("Monocyte", "marker_monocyte", ("CD14",), roles=("immune",)),
                        Node("Dendritic", "marker_dc", ("CD11c", "CD209", "CD1c"), roles=("immune",)),
                        Node("Neutrophil", None, ("MPO", "CD15", "CD66b"), roles=("immune",)),
                    ),
                ),
                Node("Mast", "marker_mast", ("Tryptase", "CD117"), roles=("immune",), lifts=_BOTH),
            ),
        ),
        Node("Plasma", "marker_plasma", ("CD138", "IgA", "IgG"), ("CD3", "CD20", "Pan-Keratin", "Keratin",
             *_TUMOUR_GATE), roles=("immune",)),
        Node("Fibroblast", "marker_caf", ("SMA", "Vimentin", "Collagen", "PDGFRa", "FAP"),
             ("CD45", *_LEUKOCYTE, "Pan-Keratin", "Keratin", *_TUMOUR_GATE)),
        Node("Perivascular", "marker_perivascular", ("PDGFRb", "MCAM", "CSPG4", "RGS5"),
             ("CD45", *_LEUKOCYTE, "Pan-Keratin")),
        Node("Endothelial", "marker_endothelial", ("CD31", "CD34", "vWF"), ("CD45", *_LEUKOCYTE, "Pan-Keratin")),
    ),
)  # fmt: skip
#: Lineages whose cells are the tumour when they are the data's main tumour lineage (carcinoma or melanoma).
TUMOR_LINEAGES = ("Epithelial", "Melanoma")


def nodes(node: Node = TREE) -> list[Node]:
    """Every node below ``node``, parents before their children."""
    out = []
    for child in node.children:
        out += [child, *nodes(child)]
    return out


def labels() -> list[str]:
    """Every label :func:`tmekit.tl.annotate` can write, in tree order, then ``unassigned``."""
    return [n.label for n in nodes()] + [UNASSIGNED]


def roles_of(role: str) -> list[str]:
    """The labels that have ``role`` (``immune``, ``t``, ``cd8``, ``tumor_lineage``)."""
    return [n.label for n in nodes() if role in n.roles]
