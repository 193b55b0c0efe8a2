"""cmoe-kd: routed logit distillation from each trace's domain specialist (offline from stored
scores, and optionally on-policy)."""

from ..base import Method

METHOD = Method(name="cmoe-kd", package=__name__, uses=("cmoe.methods.kd", "cmoe.methods.roles"))
