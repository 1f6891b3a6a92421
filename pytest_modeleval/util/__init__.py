"""Small helpers every layer may use: text tables and percentages, process liveness. One copy each."""
