"""Widget panels for the notebooks. Each panel wraps plain functions from the compute modules:
callbacks read widget values, call a helper and write into an ``Output`` (01_data_quality).

Importing this package does not import ipywidgets; each panel module does, when it is used.
"""
