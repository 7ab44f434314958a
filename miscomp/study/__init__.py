"""From findings to knowledge: prevalence of miscompressions per codec setting (with intervals and a
review correction), text fidelity as Bjøntegaard deltas, the factors that drive miscompressions, and
a risk map computed from the original alone at encoding time."""
