"""seq2seq: encoder-decoder students (T5 family) learn from a teacher's correct traces in two
target formats (the rationale, or distilling step-by-step), and from the CMoE specialists'
traces in the cascade variant."""

from ..base import Method

METHOD = Method(name="seq2seq", package=__name__, uses=("cmoe.methods.roles",))
