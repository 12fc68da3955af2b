"""Relations stage 2: stage-1 entities of a window -> stage-2 model calls."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from model_handler.tasks.relations import RelationsTask
from transforms.prepare import load_measure, make_call
from transforms.lateness import at_event_time
from common.records import DEAD_LETTER, CallResult, DeadLetter, StagePlan


class PlanStage2CallsFn(beam.DoFn):
  """Stage-1 relation results -> stage-2 calls whose labels fit the window.

  With `emit_plans`, every stage-1 result also yields one StagePlan on the
  PLANS output saying how many calls it led to (streaming's document
  assembly waits for them)."""

  DEAD = DEAD_LETTER
  PLANS = 'stage_plans'

  def __init__(self, model_ref: str, task: RelationsTask,
               revision: Optional[str] = None, emit_plans: bool = False):
    self._model_ref = model_ref
    self._revision = revision
    self._task = task
    self._emit_plans = emit_plans
    self._measure = None

  def setup(self):
    self._measure = load_measure(self._model_ref, self._revision)

  def process(self, result: CallResult):
    outputs = self._outputs(result)
    if self._emit_plans:
      n_calls = sum(1 for o in outputs
                    if not isinstance(o, beam.pvalue.TaggedOutput))
      outputs.append(beam.pvalue.TaggedOutput(
          self.PLANS, StagePlan(result.call.window.record_key, n_calls)))
    event_time = result.call.window.event_time
    for output in outputs:
      yield at_event_time(output, event_time)

  def _outputs(self, result: CallResult) -> list:
    # A failed stage-1 result plans nothing: it dead-letters the document at
    # merge.
    if result.error:
      return []
    try:
      outputs = list(self._plan(result))
    except Exception as exc:  # pylint: disable=broad-except
      window = result.call.window
      outputs = [beam.pvalue.TaggedOutput(
          self.DEAD,
          DeadLetter(window.record_key, window.doc_id, 'relations_stage2',
                     f'planning window {window.index} failed: '
                     f'{type(exc).__name__}: {exc}'[:500], None,
                     task=self._task.name))]
    return outputs

  def _plan(self, result: CallResult):
    measure = self._measure
    window = result.call.window
    label_budget = (measure.subword_limit - window.n_subwords -
                    measure.prefix_cost(self._task.later_stage_prefix)[1])

    def fits(labels) -> bool:
      return measure.labels_fit(tuple(p for _, p in labels), label_budget)

    prompts, too_long = self._task.stage2_prompts(result, fits)
    for prompt in prompts:
      yield make_call(window, prompt, measure)
    for label in too_long:
      yield beam.pvalue.TaggedOutput(
          self.DEAD,
          DeadLetter(window.record_key, window.doc_id, 'relations_stage2',
                     f'relation label does not fit window {window.index} '
                     f'next to its text: {label[:100]!r}', None,
                     task=self._task.name))
