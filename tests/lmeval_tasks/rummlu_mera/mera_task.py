"""MERA v1.2's ruMMLU task (MERA-Evaluation/MERA: benchmark_tasks/rummlu/rummlu.yaml,
custom_loglikelihood_task.yaml, custom_samplers.py), restated for lm-evaluation-harness 0.4.13.

MERA's sampler was written for lm-eval 0.4.4, whose sampler built the whole few-shot context;
0.4.13 renders every shot with one template and gives the sampler no document from another
split. So the same semantics live here in a task class and a sampler:

- shots: ``random.sample`` of n rows of the few-shot split with the document's ``meta.domain``,
  from the task's one generator (seeded once by lm-eval's ``--seed``); n + 1 and the document
  itself dropped when the few-shot split is the test split;
- the first shot: the row's ``instruction`` filled from its inputs (the task's ``doc_to_text``),
  then ``target_delimiter`` and the answer; every later shot and the document: the
  instruction-free block (``fewshot_config.doc_to_text``); ``fewshot_delimiter`` after each shot;
- zero-shot: the document's own instruction.
"""

from __future__ import annotations

from lm_eval.api.samplers import ContextSampler
from lm_eval.api.task import ConfigurableTask


class SameDomainSampler(ContextSampler):
    def sample(self, n, eval_doc=None, df=None, **kwargs):
        docs = self.fewshot_docs()
        domain = eval_doc["meta"].get("domain") if eval_doc else None
        if domain:
            docs = [d for d in docs if d["meta"]["domain"] == domain]
        return self.rnd.sample(docs, n)


class MeraTask(ConfigurableTask):
    def __init__(self, config=None, **kwargs):
        # the yaml's `class` key picks this class; TaskConfig has no field for it
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)

    def fewshot_context(
        self,
        doc,
        num_fewshot,
        system_instruction=None,
        apply_chat_template=False,
        fewshot_as_multiturn=False,
        chat_template=None,
        gen_prefix=None,
    ):
        if system_instruction or apply_chat_template:
            raise NotImplementedError("plain-text prompts only, as MERA's scripts run ruMMLU")
        if num_fewshot == 0:
            return self.doc_to_text(doc)
        same_split = self.fewshot_cfg.split == self.config.test_split
        drawn = self.sampler.sample(num_fewshot + 1 if same_split else num_fewshot, eval_doc=doc)
        shots = [d for d in drawn if d != doc][:num_fewshot]
        block = self.fewshot_cfg.doc_to_text
        context = ""
        for i, shot in enumerate(shots):
            context += self.doc_to_text(shot) if i == 0 else self.doc_to_text(shot, block)
            context += self.config.target_delimiter + str(self.doc_to_target(shot))
            context += self.config.fewshot_delimiter
        return context + self.doc_to_text(doc, block)
