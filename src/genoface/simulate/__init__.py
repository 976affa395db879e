"""The cohort simulator: genoface's embedded default data (always labelled simulated)."""

from genoface.simulate._effects import locus_component_shares
from genoface.simulate._expectation import LinearExpectation, daetwyler_r2, linear_expectation
from genoface.simulate._faces import FaceTruth
from genoface.simulate._genomes import GenomeLayout, SimulatedGenomes, simulate_genomes
from genoface.simulate._presets import COMPONENTS, DEFAULT_PRESET, PRESETS, GeneticArchitecture, Preset, get_preset
from genoface.simulate._published import published_operating_points
from genoface.simulate._raw_scans import RawScan, out_of_model_deformation, simulate_raw_scan
from genoface.simulate._simulator import SimulationResult, simulate
from genoface.simulate._traits import TraitTruth, trait_probabilities

__all__ = [
    "LinearExpectation",
    "daetwyler_r2",
    "linear_expectation",
    "TraitTruth",
    "locus_component_shares",
    "published_operating_points",
    "trait_probabilities",
    "COMPONENTS",
    "DEFAULT_PRESET",
    "PRESETS",
    "FaceTruth",
    "GeneticArchitecture",
    "GenomeLayout",
    "Preset",
    "SimulatedGenomes",
    "SimulationResult",
    "RawScan",
    "simulate_raw_scan",
    "out_of_model_deformation",
    "get_preset",
    "simulate",
    "simulate_genomes",
]
