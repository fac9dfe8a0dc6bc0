"""Fine-Tuning on a Budget: the helper package the course notebooks import.

Each module holds one topic; each public function's docstring names the notebook that
introduces it. Importing the package does nothing expensive: heavy libraries (torch,
transformers, ipywidgets) are imported inside the functions that need them.
"""

__version__ = "0.1.0"
