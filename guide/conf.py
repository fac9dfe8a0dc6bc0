"""Sphinx configuration: the guide as a static site from its MyST Markdown files (`make guide`).

Links into ../notebooks and ../data become downloadable copies in the site; links between the
chapters become page links. Everything builds offline with the default theme.
"""

project = "Fine-Tuning on a Budget: the guide"
author = "the course authors"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
myst_heading_anchors = 3  # h1-h3 get GitHub-style anchors, so `page.md#section` links work
myst_enable_extensions = ["tasklist"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "260px"}
html_title = project
html_show_sourcelink = False
