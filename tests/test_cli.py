"""Start-up validation: each bad option exits 2 with one line naming it."""
import subprocess
import sys

import pytest

from pipeline.options import add_job_arguments
from tests.conftest import REPO, run_cli, write_parquet


@pytest.fixture()
def good_input(tmp_path):
  return write_parquet(tmp_path / 'in' / 'docs.parquet', {
      'id': ['a'],
      'text': ['Paris is in France.']
  })


def base_args(good_input, tmp_path, model):
  return ['--input', good_input, '--output', tmp_path / 'out', '--model', model]


def error_line(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  return err[0]


@pytest.mark.parametrize('extra,option', [
    (['--labels', ' , ,'], '--labels'),
    (['--labels', 'person,x=1'], '--labels'),
    (['--labels=person, team=nlp'], '--labels'),
    (['--threshold', '1.5'], '--threshold'),
    (['--threshold', '-0.1'], '--threshold'),
    (['--max_batch_tokens', '0'], '--max_batch_tokens'),
    (['--window_overlap', '-3'], '--window_overlap'),
    (['--text_column', 'body'], '--text_column'),
])
def test_bad_value_names_its_option(extra, option, good_input, tmp_path,
                                    marker_model, capsys):
  rc = run_cli(base_args(good_input, tmp_path, marker_model) + extra)
  assert rc == 2
  assert error_line(capsys).startswith(f'error: {option}:')


def test_missing_input(tmp_path, marker_model, capsys):
  assert run_cli(['--output', tmp_path / 'o', '--model', marker_model]) == 2
  assert error_line(capsys).startswith('error: --input: required')


def test_input_matching_nothing(tmp_path, marker_model, capsys):
  rc = run_cli(['--input', tmp_path / 'nope*.parquet', '--output',
                tmp_path / 'o', '--model', marker_model])
  assert rc == 2
  assert 'error: --input: no files match' in error_line(capsys)


def test_input_that_is_not_parquet(tmp_path, marker_model, capsys):
  (tmp_path / 'x.parquet').write_text('not parquet')
  rc = run_cli(['--input', tmp_path / 'x.parquet', '--output', tmp_path / 'o',
                '--model', marker_model])
  assert rc == 2
  assert error_line(capsys).startswith('error: --input:')


@pytest.mark.parametrize('model', ['models/no-such-model', '/no/such/dir',
                                   'no-such-owner/no-such-model'])
def test_unreadable_model(model, good_input, tmp_path, capsys):
  assert run_cli(base_args(good_input, tmp_path, model)) == 2
  line = error_line(capsys)
  assert line.startswith('error: --model:') and model in line


def test_model_dir_without_config(good_input, tmp_path, capsys):
  empty = tmp_path / 'empty-model'
  empty.mkdir()
  assert run_cli(base_args(good_input, tmp_path, empty)) == 2
  assert 'without gliner_config.json' in error_line(capsys)


def test_output_with_results_needs_overwrite(good_input, tmp_path,
                                             marker_model, capsys):
  args = base_args(good_input, tmp_path, marker_model)
  assert run_cli(args) == 0
  capsys.readouterr()
  assert run_cli(args) == 2
  assert error_line(capsys).startswith('error: --output:')
  assert run_cli(args + ['--overwrite']) == 0


def test_help_lists_every_option_with_default():
  out = subprocess.run([sys.executable, '-m', 'pipeline', '--help'],
                       cwd=REPO, capture_output=True, text=True, check=True)
  import argparse
  parser = argparse.ArgumentParser()
  add_job_arguments(parser)
  flags = [a.option_strings[0] for a in parser._actions if a.option_strings
           and a.dest != 'help']
  text = ' '.join(out.stdout.split())
  for flag in flags + ['--labels', '--runner']:
    assert flag in text, flag
  assert text.count('(default:') >= len(flags)
  assert '(default: FnApiRunner)' in text


def test_cli_exit_code_and_single_line_in_a_real_process(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--input', tmp_path / 'x.parquet',
       '--output', tmp_path / 'o', '--threshold', '2'],
      cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 2
  assert proc.stderr.strip() == (
      'error: --threshold: must be in [0, 1], got 2.0')


@pytest.mark.parametrize('argv,option', [
    (['--input_subscription', 'projects/p/subscriptions/s'],
     '--input_subscription: needs --streaming'),
    (['--streaming', '--input', 'x.parquet'], '--streaming: reads'),
    (['--input', 'x.parquet', '--input_topic', 'projects/p/topics/t'],
     '--input_topic: give only one source'),
    (['--streaming', '--input_topic', 'projects/p/topics/t',
      '--window_seconds', '0'], '--window_seconds: must be >= 1'),
    (['--input', 'x.parquet', '--output_topic', 'projects/p/topics/t'],
     '--output_topic: needs --streaming'),
    (['--model_copies', '0', '--input', 'x.parquet'], '--model_copies:'),
])
def test_source_options_are_checked(argv, option, tmp_path, marker_model,
                                    capsys):
  rc = run_cli(argv + ['--output', tmp_path / 'o', '--model', marker_model])
  assert rc == 2
  assert error_line(capsys).startswith(f'error: {option}')
