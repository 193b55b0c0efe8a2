"""direct-kd: each student learns a teacher's traces from the text and from a teacher's
logits (the generalist intermediate's, or the teacher's own)."""

from ..base import Method

METHOD = Method(name="direct-kd", package=__name__, uses=("cmoe.methods.kd", "cmoe.methods.roles"))
