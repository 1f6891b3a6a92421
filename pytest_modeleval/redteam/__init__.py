"""Red-team suites: does a model refuse harmful requests, and only those?

Modules:

* `library`: the packaged prompt library (harmful requests, benign look-alikes, jailbreak
  templates), versioned by a content hash, expanded into suite rows;
* `public`: the same row shape from the published XSTest and HarmBench files;
* `rows`: that row shape, and the FILE:LINE of a row for error messages;
* `classify`: refusal classifiers; `StringMatch` is XSTest's prefix baseline;
* `validate`: a classifier's agreement with XSTest's human labels (Cohen's kappa);
* `learned` (with `features`, `logistic`): the default classifier, a head trained on those labels,
  shipped in `weights/`; `lomo`: its leave-one-model-out validation;
* `calibrate`: refusal rates corrected for the learned classifier's errors (Rogan-Gladen).
"""
