"""The roles several methods share, so that no method imports another's plan: the generalist
intermediate and its row (direct, cascade, direct-kd), and the CMoE specialists with their own
traces (cmoe, cmoe-kd, seq2seq): their config section, checks, one-engine job kind and rule.
Not a method itself: the methods that plan these roles name it in their ``uses``.

Also the labels of the rows other methods compare against, here rather than in the method that
owns them: :data:`BASELINE`, the baseline's rows (and the generalist's), and
:data:`SPECIALISTS`, the causal students of the specialists' traces.
"""

BASELINE = "direct"
SPECIALISTS = "cmoe"
