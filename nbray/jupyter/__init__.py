"""The Jupyter layer: the only package that imports IPython. An adapter: it calls the public API
and folds the runtime's events; it decides nothing about scheduling."""
