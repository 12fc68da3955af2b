"""Generate the Flex Template's metadata.json from the job's own options.

    python templates/dataflow/make_metadata.py            # rewrite metadata.json
    python templates/dataflow/make_metadata.py --check    # exit 1 if stale

Every option declared by `pipeline.options.add_job_arguments` (plus Beam's
`--streaming`) becomes one template parameter, named after its argparse
`dest`: the entity labels are therefore `entity_labels`, never `labels`
(Beam's `--labels` means Dataflow job labels). Labels, help texts and regexes
are derived from the argparse actions (choices, type, store_true), so a new
option shows up here by rerunning the script; `tests/test_templates.py` fails
while the committed file differs from what this script generates.

Booleans are `true`/`false` in the template (Dataflow passes every parameter
as `--name=value`); `templates/dataflow/main.py` turns them back into bare
flags before the job parses them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
METADATA = HERE / 'metadata.json'

if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))

from pipeline.options import add_job_arguments  # noqa: E402

BOOL_REGEX = '^(true|false)$'
INT_REGEX = '^[0-9]+$'
FLOAT_REGEX = r'^([0-9]+(\.[0-9]*)?|\.[0-9]+)$'
ANY_REGEX = r'^.*\S.*$'  # not blank

# Validation the argparse declarations cannot express. Anything absent here
# gets a regex derived from the action (choices, type, store_true) or ANY_REGEX.
REGEX_OVERRIDES: Dict[str, str] = {
    'input': r'^gs://[^/\s]+/\S+$',
    'output': r'^gs://[^/\s]+/?\S*$',
    'tasks': r'^(gs://[^/\s]+/\S+|/\S+)$',
    # gs:// checkpoint, a directory baked into the image, or a hub id.
    'model': r'^(gs://[^/\s]+/\S+|/\S+|[A-Za-z0-9][\w.-]*/[\w.-]+)$',
    'input_subscription': r'^projects/[^/\s]+/subscriptions/[^/\s]+$',
    'input_topic': r'^projects/[^/\s]+/topics/[^/\s]+$',
    'output_topic': r'^projects/[^/\s]+/topics/[^/\s]+$',
    'pubsub_expansion_service': r'^[^\s:]+:[0-9]+$',
    'entity_labels': r'^[^,]*[^,\s][^,]*(,[^,]*[^,\s][^,]*)*$',
    'threshold': r'^(0(\.[0-9]*)?|1(\.0*)?|\.[0-9]+)$',
    'run_id': r'^\S+$',
    'text_column': ANY_REGEX,
    'id_column': ANY_REGEX,
    'id_attribute': ANY_REGEX,
}

LABEL_OVERRIDES: Dict[str, str] = {
    'input': 'Input Parquet files (batch)',
    'output': 'Output root',
    'tasks': 'Task file (YAML or JSON)',
    'entity_labels': 'Entity labels',
    'model': 'GLiNER checkpoint',
    'input_subscription': 'Pub/Sub input subscription (streaming)',
    'input_topic': 'Pub/Sub input topic (streaming)',
    'output_topic': 'Pub/Sub output topic (streaming)',
    'pubsub_read': 'Pub/Sub source implementation',
    'pubsub_expansion_service': 'Expansion service for the cross-language '
                                'Pub/Sub read',
    'id_attribute': 'Pub/Sub id attribute',
    'dtype': 'Model dtype',
    'large_model': 'Share one model per worker',
    'compile': 'torch.compile the model',
    'run_id': 'Run id',
    'streaming': 'Streaming job',
}

# Template-specific notes appended to an option's own help.
HELP_NOTES: Dict[str, str] = {
    'model': 'On Dataflow: gs://bucket/models/NAME (each worker copies it '
             'once), or a directory in the image',
    'entity_labels': 'Named entity_labels here: the template parameter '
                     '"labels" means Dataflow job labels',
}

# Options the template cannot run without.
REQUIRED = {'output'}

STREAMING_HELP = ('Run as a streaming job: read --input_subscription or '
                  '--input_topic instead of --input, windowed Parquet sinks')


def _label(dest: str) -> str:
  if dest in LABEL_OVERRIDES:
    return LABEL_OVERRIDES[dest]
  words = dest.replace('_', ' ')
  return words[0].upper() + words[1:]


def _regex(action: argparse.Action) -> str:
  if action.dest in REGEX_OVERRIDES:
    return REGEX_OVERRIDES[action.dest]
  if isinstance(action, argparse._StoreTrueAction):  # pylint: disable=protected-access
    return BOOL_REGEX
  if action.choices:
    return '^(' + '|'.join(str(c) for c in action.choices) + ')$'
  if action.type is int:
    return INT_REGEX
  if action.type is float:
    return FLOAT_REGEX
  return ANY_REGEX


def template_value(default) -> Optional[str]:
  """How a default is written as a template parameter value (None: unset)."""
  if default is None:
    return None
  if isinstance(default, bool):
    return 'true' if default else 'false'
  return str(default)


def _describe_default(default) -> Optional[str]:
  value = template_value(default)
  if value is None:
    return None
  path = Path(value)
  if path.is_absolute():
    try:  # machine-independent: a path inside the repository (and the image)
      value = str(path.relative_to(REPO_ROOT))
    except ValueError:
      pass
  return value


def job_actions() -> List[argparse.Action]:
  """The user-facing options, as argparse declares them (no --help)."""
  parser = argparse.ArgumentParser(add_help=False)
  add_job_arguments(parser)
  actions = list(parser._actions)  # pylint: disable=protected-access
  streaming = argparse.ArgumentParser(add_help=False).add_argument(
      '--streaming', action='store_true', default=False, help=STREAMING_HELP)
  return actions + [streaming]


def parameter(action: argparse.Action) -> dict:
  help_text = ' '.join((action.help or '').split())
  if action.dest in HELP_NOTES:
    help_text = f'{help_text.rstrip(".")}. {HELP_NOTES[action.dest]}'
  default = _describe_default(action.default)
  if default is not None:
    help_text = f'{help_text.rstrip(".")}. Default: {default}.'
  return {
      'name': action.dest,
      'label': _label(action.dest),
      'helpText': help_text,
      'isOptional': action.dest not in REQUIRED,
      'regexes': [_regex(action)],
  }


def build_metadata() -> dict:
  return {
      'name': 'gliner-beam',
      'description':
          'Enrich Parquet documents (batch) or Pub/Sub messages (streaming) '
          'with a GLiNER model: entities, relations, answers, summaries, '
          'classifications and extractions as typed Parquet tables. GPU '
          'workers: see templates/dataflow/README.md.',
      'streaming': False,
      'supportsAtLeastOnce': True,
      'supportsExactlyOnce': True,
      'parameters': [parameter(a) for a in job_actions()],
  }


def render() -> str:
  return json.dumps(build_metadata(), indent=2, ensure_ascii=False) + '\n'


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--check', action='store_true',
                      help='exit 1 when metadata.json is not up to date')
  parser.add_argument('--out', type=Path, default=METADATA)
  args = parser.parse_args(argv)
  text = render()
  if args.check:
    current = args.out.read_text() if args.out.is_file() else ''
    if current != text:
      print(f'{args.out} is stale: run python {Path(__file__).relative_to(REPO_ROOT)}',
            file=sys.stderr)
      return 1
    return 0
  args.out.write_text(text)
  print(f'wrote {args.out} ({len(build_metadata()["parameters"])} parameters)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
