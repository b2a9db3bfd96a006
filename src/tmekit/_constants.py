"""Default keys and fixed names, in one place so that writers, readers and plots agree."""

from __future__ import annotations

from typing import Final

#: Logger name; tmekit configures no handlers on import.
LOGGER_NAME: Final = "tmekit"

# --- AnnData keys written by tmekit -----------------------------------------------------------
SCORES_KEY: Final = "tmekit_scores"  # obsm (cells x signatures) and uns (provenance)
CELL_TYPE_KEY: Final = "tmekit_cell_type"  # obs, from tk.tl.annotate
CELL_TYPES_KEY: Final = "tmekit_cell_types"  # uns: which labels are tumour, immune, CD8 T, T; PD-L1 (tk.pp.cell_types)
COMPARTMENT_KEY: Final = "tmekit_compartment"  # obs, from tk.sp.compartments
PHENOTYPE_KEY: Final = "tmekit_phenotype"  # uns table and obs mapping, from tk.tl.classify
TCELL_STATES_KEY: Final = "tmekit_tcell_state"  # obs state per CD8 T cell, uns per-sample table, tk.tl.tcell_states
SPATIAL_KEY: Final = "spatial"  # obsm coordinates, squidpy's convention
DISTANCE_KEY: Final = "tmekit_tumor_distance"  # obs, from tk.sp.compartments: signed distance to the boundary (um)
TUMOR_CONTENT_KEY: Final = "tmekit_tumor_content"  # obs of spot data, from tk.sp.compartments: smoothed tumour share
CONTENT_KEY: Final = "tmekit_spot_content"  # obsm (spots x cell types) and uns, from tk.sp.spot_content
SPOTS_KEY: Final = "tmekit_spots"  # uns of spot objects made by tk.sp.pseudo_visium (diameter, pitch, units)
AGGREGATE_KEY: Final = "tmekit_aggregate"  # uns of a pseudobulk from tk.tl.aggregate
ASSOCIATION_KEY: Final = "tmekit_association"  # uns: features vs response / survival, from tk.tl.associate

#: The call of a sample under the inflamed / excluded / desert scheme, or why there is none.
PHENOTYPE_CALLS: Final = ("inflamed", "excluded", "desert", "indeterminate")

# --- Signature library ------------------------------------------------------------------------
#: The five modules users asked for by name, mapped to the library set tmekit scores by default.
HEADLINE_SIGNATURES: Final[dict[str, str]] = {
    "T-cell exhaustion": "exhaustion_core_curated",
    "M2 TAM": "m2_tam_bagaev2021",
    "CXCL13+ T cells": "cxcl13_t_zheng2021",
    "IFN-gamma pathway": "ifng6_ayers2017",
    "Hypoxia": "hypoxia_buffa2010",
}

#: Registry columns, in file order.
REGISTRY_COLUMNS: Final = (
    "name",
    "title",
    "category",
    "description",
    "species",
    "gene_id_type",
    "n_up",
    "n_down",
    "weighted",
    "citation",
    "doi",
    "pmid",
    "version",
    "verified",
    "verified_against",
    "notes",
    "sha256",
)

#: Columns of one signature table (long form, one row per gene).
SET_COLUMNS: Final = ("gene", "direction", "weight", "aliases")

#: Allowed values of the registry's ``verified`` column.
VERIFICATION_LEVELS: Final = ("verified-primary", "verified-secondary", "curated", "unverified")
