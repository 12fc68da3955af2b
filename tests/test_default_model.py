"""The embedded default model on the bundled sample documents: entities are
mostly right (exact-span F1 against hand-made gold), through the whole job,
long document included."""
import json

from tests.conftest import SAMPLE_DIR, read_table, run_cli


def f1(gold, predicted):
  tp = len(gold & predicted)
  precision = tp / len(predicted) if predicted else 0.0
  recall = tp / len(gold) if gold else 0.0
  return 2 * precision * recall / (precision + recall) if tp else 0.0


def test_default_model_gets_sample_entities_mostly_right(default_model,
                                                         tmp_path, capsys):
  rc = run_cli(['--input', SAMPLE_DIR / '*.parquet', '--output',
                tmp_path / 'out'])  # all defaults: model, labels, threshold
  assert rc == 0
  gold = set()
  for line in (SAMPLE_DIR / 'gold.jsonl').read_text().splitlines():
    doc = json.loads(line)
    gold |= {(doc['id'], e['start'], e['end'], e['label'])
             for e in doc['entities']}
  entities = read_table(tmp_path / 'out', 'entities').to_pylist()
  predicted = {(e['doc_id'], e['start'], e['end'], e['label'])
               for e in entities}
  micro = f1(gold, predicted)
  per_label = {
      label: f1({g for g in gold if g[3] == label},
                {p for p in predicted if p[3] == label})
      for label in ('person', 'organization', 'location')
  }
  print(f'\nsample F1 micro {micro:.3f}, per label '
        + ', '.join(f'{k} {v:.3f}' for k, v in per_label.items()))
  assert micro >= 0.80  # measured 0.852 (model threshold 0.4); issue 12: 0.801
  assert min(per_label.values()) >= 0.7  # organization: 0.776
  docs = read_table(tmp_path / 'out', 'documents').to_pylist()
  dead = read_table(tmp_path / 'out', 'dead_letter').to_pylist()
  assert len(docs) == 31 and len(dead) == 3
  assert max(d['n_windows'] for d in docs) > 1  # the long document
