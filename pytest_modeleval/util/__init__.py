"""Small helpers every layer may use: text tables and percentages, process liveness, whether a file is the committed one. One copy each."""
