"""What the benchmark measures: the scenarios, run per model and device on
the same documents and the same loaded weights.

Each scenario times bare ``GLiNER.inference(batch_size=8)``, the encoder
alone over the same batches (the limit) and the Beam job end to end
(``bench.timing``): uniform lengths (P4, P5, padding; P1 on a corpus where
bare gliner runs >= 30 s, so the job's fixed cost is paid once as on a real
corpus), mixed lengths (P2, against bare gliner reading the same words in
max_len-word pieces; the truncating call stays as a diagnostic), long
documents (P3a) and planted entities (P3b, recall by position).
The ratios and verdicts derived from these numbers live in ``bench.results_report``;
which scenarios a mode runs, in ``bench.cli``.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from bench import corpora
from bench import models as bench_models
from bench import timing

LABELS = ('person', 'organization', 'location', 'field of study', 'algorithm')


def log(message: str) -> None:
  print(f'[bench {time.strftime("%H:%M:%S")}] {message}', flush=True)


def best(results: List[Dict[str, Any]], key: str = 'wall_s') -> Dict[str, Any]:
  """Fastest of repeated runs, with all times and their median."""
  fastest = dict(min(results, key=lambda r: r[key]))
  times = [r[key] for r in results]
  fastest[key + '_all'] = [round(t, 3) for t in times]
  fastest[key + '_median'] = round(statistics.median(times), 3)
  return fastest


class Bench:

  def __init__(self, args, mode: Dict[str, Any], workdir: Path):
    self.args = args
    self.mode = mode
    self.workdir = workdir
    self.sentences = corpora.read_sentences()
    self._inputs: Dict[str, str] = {}

  # Parquet inputs are written once per corpus and reused by every job run.
  def input_glob(self, corpus: corpora.Corpus) -> str:
    if corpus.name not in self._inputs:
      folder = self.workdir / 'inputs' / corpus.name
      corpora.write_parquet(corpus, folder / 'docs.parquet',
                            row_group_size=self.args.row_group_size)
      self._inputs[corpus.name] = str(folder / '*.parquet')
    return self._inputs[corpus.name]

  def new_output(self) -> str:
    return tempfile.mkdtemp(prefix='out-', dir=self.workdir)

  def argv(self, model_dir, corpus, device, dtype, extra=(),
           output=None) -> List[str]:
    return timing.job_argv(self.input_glob(corpus), output or self.new_output(),
                           model_dir, LABELS, self.args.threshold,
                           self.args.max_batch_tokens, device, dtype, extra)

  def job(self, model_dir, corpus, device, dtype, extra=(),
          multi_process=False, output=None) -> Dict[str, Any]:
    return timing.run_job(
        self.argv(model_dir, corpus, device, dtype, extra, output),
        multi_process=multi_process)

  @staticmethod
  def mp_extra() -> List[str]:
    # 2 worker processes x 1 torch thread on a 2-core machine (2 x 2 threads
    # oversubscribes the cores).
    return ['--direct_running_mode=multi_processing', '--direct_num_workers=2',
            '--torch_threads', '1']

  # ---- uniform lengths: P1, padding, P4, P5 ------------------------------
  def uniform(self, spec, model, model_dir, device, dtype, n_docs, words,
              reps) -> Dict[str, Any]:
    corpus = corpora.uniform_corpus(self.sentences, n_docs, words)
    tiny = corpora.Corpus('one-tiny-doc', ['t0'],
                          ['Angela Merkel met the press in Berlin.'])
    log(f'  uniform: {corpus.describe()}')
    batches = timing.collate(model, corpus.texts, list(LABELS), 8)
    runs: Dict[str, List] = {'bare': [], 'encoder': [], 'job': [],
                             'overhead': []}
    for rep in range(reps):
      runs['bare'].append(timing.bare_inference(model, corpus.texts, LABELS,
                                                self.args.threshold))
      runs['encoder'].append(timing.encoder_only(model, batches))
      runs['job'].append(self.job(model_dir, corpus, device, dtype))
      runs['overhead'].append(self.job(model_dir, tiny, device, dtype))
      log(f'  rep {rep + 1}/{reps}: bare {runs["bare"][-1]["wall_s"]:.2f} s, '
          f'encoder {runs["encoder"][-1]["wall_s"]:.2f} s, job '
          f'{runs["job"][-1]["wall_s"]:.2f} s, job on 1 tiny doc '
          f'{runs["overhead"][-1]["wall_s"]:.2f} s')
    out = {name: best(r) for name, r in runs.items()}
    out['corpus'] = corpus.describe()
    out['encoder']['docs_per_s'] = n_docs / out['encoder']['wall_s']
    if self.mode['job_windows_limit']:
      out['encoder_job_windows'] = self.job_windows_limit(
          model, model_dir, corpus, device, dtype)
    if self.mode['multi_process'] and 'mp' not in self.args.skip:
      mp_runs = []
      for rep in range(max(1, reps - 1)):
        mp_runs.append(self.job(model_dir, corpus, device, dtype,
                                self.mp_extra(), multi_process=True))
        log(f'  multi-process job: {mp_runs[-1]["wall_s"]:.2f} s, loads per '
            f'worker pid {mp_runs[-1].get("worker_loads")}')
      out['job_multi_process'] = best(mp_runs)
    if self.mode['profile'] and spec.real and 'profile' not in self.args.skip:
      log('  profiling one job run (cProfile)')
      out['profile'] = timing.profile_job(
          self.argv(model_dir, corpus, device, dtype))
    return out

  def job_windows_limit(self, model, model_dir, corpus, device, dtype):
    """Encoder alone over the job's own windows, grouped by length with the
    job's subword budget but over the whole corpus at once (ideal batching).
    The job's wall time divided by this is its distance from the limit."""
    from model_handler.handler import padded_groups
    calls, _ = timing.job_calls(
        model_dir, corpus.texts,
        self.argv(model_dir, corpus, device, dtype, output='/tmp/unused'))
    groups = padded_groups(calls, self.args.max_batch_tokens)
    batches = timing.collate_groups(model, groups)
    result = timing.encoder_only(model, batches)
    result['calls'] = len(calls)
    result['simulated_job_padding'] = timing.simulated_padding(
        calls, self.args.max_batch_tokens)
    result['docs_per_s'] = len(corpus.texts) / result['wall_s']
    return result

  # ---- P1 on a corpus large enough to amortise the fixed cost ------------
  def amortised(self, model, model_dir, device, dtype, bare_docs_per_s,
                words) -> Dict[str, Any]:
    """Bare gliner and the job, once each, on a uniform corpus sized so
    bare runs for `p1_bare_s` seconds (from the small corpus's docs/s): a
    real corpus, where the job's fixed cost is paid once."""
    target_s = self.mode['p1_bare_s']
    n_docs = max(8, int(round(target_s * bare_docs_per_s * 1.05)))
    corpus = corpora.uniform_corpus(self.sentences, n_docs, words, seed=5)
    log(f'  P1 corpus: {corpus.describe()} (bare ~{target_s} s)')
    bare = timing.bare_inference(model, corpus.texts, LABELS,
                                 self.args.threshold)
    job = self.job(model_dir, corpus, device, dtype)
    log(f'  P1 corpus: bare {bare["wall_s"]:.2f} s, job {job["wall_s"]:.2f} s')
    return {'corpus': corpus.describe(), 'bare': bare, 'job': job,
            'target_bare_s': target_s}

  # ---- mixed lengths: P2 -------------------------------------------------
  def mixed(self, spec, model, model_dir, device, dtype, reps):
    n_docs, low, high = self.mode['mixed']
    corpus = corpora.mixed_corpus(self.sentences, n_docs, low, high)
    log(f'  mixed: {corpus.describe()}')
    batches = timing.collate(model, corpus.texts, list(LABELS), 8)
    runs: Dict[str, List] = {'bare': [], 'bare_same_words': [], 'job': []}
    for rep in range(max(1, reps - 1)):
      runs['bare'].append(timing.bare_inference(model, corpus.texts, LABELS,
                                                self.args.threshold))
      # P2's baseline: bare gliner reading every word (max_len-word pieces)
      runs['bare_same_words'].append(timing.bare_same_words(
          model, corpus.texts, LABELS, self.args.threshold))
      runs['job'].append(self.job(model_dir, corpus, device, dtype))
      log(f'  rep {rep + 1}: bare {runs["bare"][-1]["wall_s"]:.2f} s '
          f'({runs["bare"][-1]["truncated_docs"]} docs truncated), bare on '
          f'max_len-word pieces {runs["bare_same_words"][-1]["wall_s"]:.2f} s '
          f'({runs["bare_same_words"][-1]["pieces"]} pieces), job '
          f'{runs["job"][-1]["wall_s"]:.2f} s '
          f'({runs["job"][-1]["windows"]} windows)')
    out = {name: best(r) for name, r in runs.items()}
    out['encoder'] = timing.encoder_only(model, batches)
    out['encoder']['docs_per_s'] = n_docs / out['encoder']['wall_s']
    out['corpus'] = corpus.describe()
    max_len = model.config.max_len
    words = corpus.words
    out['bare_words_read'] = sum(min(w, max_len) for w in words)
    out['job_words_read'] = sum(words)
    if self.mode['job_windows_limit']:
      out['encoder_job_windows'] = self.job_windows_limit(
          model, model_dir, corpus, device, dtype)
    if self.mode['multi_process'] and 'mp' not in self.args.skip:
      out['job_multi_process'] = self.job(model_dir, corpus, device, dtype,
                                          self.mp_extra(), multi_process=True)
      log(f'  multi-process job: {out["job_multi_process"]["wall_s"]:.2f} s')
    if self.mode['profile'] and spec.real and 'profile' not in self.args.skip:
      log('  profiling one job run (cProfile)')
      out['profile'] = timing.profile_job(
          self.argv(model_dir, corpus, device, dtype))
    return out

  # ---- long documents: P3a -----------------------------------------------
  def long(self, spec, model, model_dir, device, dtype, reps):
    unit_words, units = self.mode['long']
    docs = corpora.long_corpora(self.sentences, unit_words, max(1, units // 2),
                                units)
    one_unit = corpora.Corpus(f'long-1x{unit_words}w', ['l1k00'],
                              [docs['unit'].texts[0]])
    tiny = corpora.Corpus('one-tiny-doc', ['t0'],
                          ['Angela Merkel met the press in Berlin.'])
    log(f'  long: {units} x {docs["unit"].describe()["words_mean"]} words vs '
        f'1 x {docs["big"].describe()["words_total"]} words (same text)')
    runs: Dict[str, List] = {'units': [], 'big': [], 'mid': [], 'one_unit': [],
                             'overhead': []}
    for rep in range(reps):
      runs['units'].append(self.job(model_dir, docs['unit'], device, dtype))
      runs['big'].append(self.job(model_dir, docs['big'], device, dtype))
      runs['mid'].append(self.job(model_dir, docs['mid'], device, dtype))
      runs['one_unit'].append(self.job(model_dir, one_unit, device, dtype))
      runs['overhead'].append(self.job(model_dir, tiny, device, dtype))
      log(f'  rep {rep + 1}/{reps}: {units} x {unit_words}w '
          f'{runs["units"][-1]["wall_s"]:.2f} s, 1 x {units * unit_words}w '
          f'{runs["big"][-1]["wall_s"]:.2f} s, 1 x {unit_words}w '
          f'{runs["one_unit"][-1]["wall_s"]:.2f} s, tiny doc '
          f'{runs["overhead"][-1]["wall_s"]:.2f} s')
    out = {name: best(r) for name, r in runs.items()}
    out['units_corpus'] = docs['unit'].describe()
    out['big_corpus'] = docs['big'].describe()
    out['mid_corpus'] = docs['mid'].describe()
    # Bare gliner on the long docs (truncated to max_len words).
    out['bare_big'] = timing.bare_inference(model, docs['big'].texts, LABELS,
                                            self.args.threshold)
    out['bare_units'] = timing.bare_inference(model, docs['unit'].texts,
                                              LABELS, self.args.threshold)
    # Pure-Python windowing cost, outside Beam, per document length.
    out['plan_only_s'] = self.plan_scaling(model_dir, docs, device, dtype)
    return out

  def plan_scaling(self, model_dir, docs, device, dtype):
    """PlanModelCallsFn alone on the 1k, 5k and 10k-word documents."""
    result = {}
    for key in ('unit', 'mid', 'big'):
      text = docs[key].texts[0]
      argv = self.argv(model_dir, docs[key], device, dtype,
                       output='/tmp/unused')
      started = time.perf_counter()
      calls, _ = timing.job_calls(model_dir, [text], argv)
      result[f'{corpora.count_words(text)}w'] = {
          's': round(time.perf_counter() - started, 4), 'calls': len(calls)}
    return result

  # ---- planted entities: P3b ---------------------------------------------
  def planted(self, model, model_dir, device, dtype):
    words, n_docs = self.mode['planted']
    kept, checks = verify_plants(model, self.args.threshold)
    log(f'  planted: {len(kept)}/{len(corpora.PLANT_TEMPLATES)} templates '
        'found by bare inference on the sentence alone')
    if not kept:
      return {'error': 'no template is found by the model alone',
              'template_checks': checks}
    docs = [corpora.planted_document(self.sentences, kept, words, every=40,
                                     seed=4 + i) for i in range(n_docs)]
    corpus = corpora.Corpus(f'planted-{n_docs}x{words}w',
                            [f'p{i}' for i in range(n_docs)],
                            [d.text for d in docs])
    output = self.new_output()
    job = self.job(model_dir, corpus, device, dtype, output=output)
    found_job: Dict[str, set] = {}
    for row in timing.read_entities(output):
      found_job.setdefault(row['doc_id'], set()).add(
          (row['start'], row['end'], row['label']))
    bare = timing.bare_inference(model, corpus.texts, LABELS,
                                 self.args.threshold)
    found_bare = {
        corpus.ids[i]: {(p['start'], p['end'], p['label']) for p in preds}
        for i, preds in enumerate(bare['_predictions'])
    }
    out = {
        'corpus': corpus.describe(),
        'plants_per_doc': [len(d.plants) for d in docs],
        'templates_kept': [t[0] for t in kept],
        'template_checks': checks,
        'job_wall_s': job['wall_s'],
        'job_windows': job['windows'],
        'bare_truncated_docs': bare['truncated_docs'],
    }
    for who, found in (('job', found_job), ('bare', found_bare)):
      region = {'first10': [0, 0], 'last10': [0, 0], 'all': [0, 0]}
      for doc_id, doc in zip(corpus.ids, docs):
        hits = found.get(doc_id, set())
        for start, end, label, first_word in doc.plants:
          hit = (start, end, label) in hits
          where = ['all']
          if first_word < 0.1 * doc.n_words:
            where.append('first10')
          if first_word >= 0.9 * doc.n_words:
            where.append('last10')
          for w in where:
            region[w][0] += hit
            region[w][1] += 1
      out[who] = {
          k: {'found': f, 'planted': n,
              'recall': round(f / n, 4) if n else None}
          for k, (f, n) in region.items()
      }
    return out

  # ---- one model on one device -------------------------------------------
  def model_run(self, spec, scenarios, device, dtype) -> Dict[str, Any]:
    model_dir = bench_models.model_dir(spec, self.args.cache_dir)
    model, load_s = timing.load_model(model_dir, device, dtype)
    log(f'{spec.name} on {device}/{dtype}: loaded in {load_s:.2f} s '
        f'({model_dir})')
    # Warm-up: first calls pay one-off costs (allocator, thread pools) and
    # the first Beam run pays imports; neither is measured.
    warm = corpora.uniform_corpus(self.sentences, 4, 50, seed=99)
    timing.bare_inference(model, warm.texts, LABELS, self.args.threshold)
    self.job(model_dir, warm, device, dtype)
    result: Dict[str, Any] = {
        'model_dir': str(model_dir),
        'span_mode': spec.span_mode,
        'max_len_words': model.config.max_len,
        'load_s': round(load_s, 3),
    }
    secondary = not spec.real and 'secondary_uniform' in self.mode
    reps = self.mode.get('secondary_reps', self.mode['reps']) if (
        secondary) else self.mode['reps']
    reps = self.args.reps or reps
    if 'uniform' in scenarios:
      n_docs, words = self.mode['secondary_uniform' if secondary else
                                'uniform']
      result['uniform'] = self.uniform(spec, model, model_dir, device, dtype,
                                       n_docs, words, reps)
    if ('uniform' in scenarios and self.mode.get('p1_bare_s') and
        not secondary and 'p1' not in self.args.skip):
      result['amortised'] = self.amortised(
          model, model_dir, device, dtype,
          result['uniform']['bare']['docs_per_s'],
          self.mode['uniform'][1])
    if 'mixed' in scenarios and 'mixed' not in self.args.skip:
      result['mixed'] = self.mixed(spec, model, model_dir, device, dtype, reps)
    if 'long' in scenarios and 'long' not in self.args.skip:
      result['long'] = self.long(spec, model, model_dir, device, dtype, reps)
    if ('planted' in scenarios and self.mode['planted'] and spec.real and
        'planted' not in self.args.skip):
      result['planted'] = self.planted(model, model_dir, device, dtype)
    del model
    return result


def verify_plants(model, threshold: float):
  """Templates whose entity bare inference finds on the sentence alone."""
  kept, checks = [], []
  texts = [t[0] for t in corpora.PLANT_TEMPLATES]
  predictions = model.inference(texts, list(LABELS), threshold=threshold)
  for (template, entity, label), preds in zip(corpora.PLANT_TEMPLATES,
                                              predictions):
    start = template.index(entity)
    found = [p for p in preds if p['start'] == start and
             p['end'] == start + len(entity)]
    ok = any(p['label'] == label for p in found)
    checks.append({
        'sentence': template, 'entity': entity, 'label': label, 'found': ok,
        'predicted': [(p['text'], p['label'], round(p['score'], 3))
                      for p in preds]
    })
    if ok:
      kept.append((template, entity, label))
  return kept, checks
