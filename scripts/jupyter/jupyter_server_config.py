# Offline Jupyter configuration of the workbench (scripts/start.sh puts this folder on
# JUPYTER_CONFIG_PATH; the browser tests do the same).
#
# Voila's server extension (the /voila/render/ pages of a running JupyterLab) asks the page to
# load MathJax from cdnjs unless both settings below read "null"; then its front end uses the
# MathJax 3 it bundles. (None would break Notebook 7's page handler, which joins the URL;
# JupyterLab and Notebook 7 bundle MathJax 3 and do not fetch this URL.)
c = get_config()  # noqa: F821 - provided by traitlets when the file is loaded
c.ServerApp.tornado_settings.update({"mathjax_url": "null", "mathjax_config": "null"})
