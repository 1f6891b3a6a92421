"""Red-team suites: does a model refuse harmful requests, and only those?

Modules:

* `library`: the packaged prompt library (harmful requests, benign look-alikes, jailbreak
  templates), versioned by a content hash, expanded into suite rows;
* `public`: the same row shape from the published XSTest and HarmBench files;
* `rows`: that row shape, and the FILE:LINE of a row for error messages;
* `classify`: refusal classifiers; `StringMatch` is XSTest's prefix baseline;
* `validate`: a classifier's agreement with XSTest's human labels (Cohen's kappa).
"""
