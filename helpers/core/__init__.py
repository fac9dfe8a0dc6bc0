"""Setup: paths, profiles, errors, run folders and JSON I/O, models, the doctor (notebook 00)."""
