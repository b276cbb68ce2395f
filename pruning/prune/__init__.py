"""Filter pruning of the SSDs: importance, dependency groups, physical surgery, LUT-driven clusters, greedy loop."""
