"""Charts as small SVG files that say which data they were drawn from.

A chart in the docs is only worth showing while it matches its numbers. Git
keeps no file times, so each SVG records the sha256 of the JSON it was drawn
from (`<dc:identifier>sha256:...</dc:identifier>` in the SVG's metadata) and
a test compares it with the JSON's current hash. Text stays text (no embedded
glyphs: `svg.fonttype: none`), ids and the date are fixed, so a redraw of the
same data gives the same file. matplotlib is the `report` extra: imported
only when a chart is drawn, never by the job.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

STYLE = {
    'svg.fonttype': 'none',  # text as <text>, not paths: small, searchable
    'svg.hashsalt': 'gliner-beam',  # stable element ids between redraws
    'font.family': 'sans-serif',
    # A short fallback list: SVG text repeats it on every label.
    'font.sans-serif': ['DejaVu Sans', 'Arial', 'Helvetica'],
    'font.size': 9,
    'axes.spines.top': False,
    'axes.spines.right': False,
    'axes.titlesize': 10,
    'axes.titleweight': 'bold',
}
# Colour-blind-safe (Okabe-Ito): one colour per series, the same everywhere.
PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00',
           '#F0E442', '#999999', '#000000']
_RECORDED = re.compile(r'<dc:identifier>sha256:([0-9a-f]{64})</dc:identifier>')
_SOURCE = re.compile(r'<dc:source>([^<]+)</dc:source>')


def sha256_of(path: Path) -> str:
  return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pyplot():
  """matplotlib's pyplot on the file-only backend, with this module's style."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  plt.rcParams.update(STYLE)
  return plt


def save_svg(fig, svg_path: Path, data_path: Path, title: str) -> Path:
  """Writes `fig` to `svg_path`, recording the data file's name and sha256;
  closes the figure."""
  plt = pyplot()
  metadata: Dict[str, Optional[str]] = {
      'Title': title,
      'Source': Path(data_path).name,
      'Identifier': f'sha256:{sha256_of(data_path)}',
      'Date': None,  # a redraw of the same data is the same file
  }
  svg_path = Path(svg_path)
  svg_path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(svg_path, format='svg', metadata=metadata, bbox_inches='tight')
  plt.close(fig)
  return svg_path


def recorded_sha256(svg_path: Path) -> Optional[str]:
  """The sha256 of the data an SVG was drawn from, as `save_svg` recorded
  it; None when the file records none."""
  found = _RECORDED.search(Path(svg_path).read_text(encoding='utf-8'))
  return found.group(1) if found else None


def chart_problem(svg_path: Path) -> Optional[str]:
  """Why a chart cannot be trusted (missing, no recorded data, its data
  gone or changed since it was drawn); None when it matches its data, which
  `save_svg` recorded by name beside the SVG."""
  svg_path = Path(svg_path)
  if not svg_path.is_file():
    return f'{svg_path}: missing'
  text = svg_path.read_text(encoding='utf-8')
  source = _SOURCE.search(text)
  sha = recorded_sha256(svg_path)
  if not source or not sha:
    return f'{svg_path}: records no data file and sha256 (not drawn by save_svg)'
  data = svg_path.parent / source.group(1)
  if not data.is_file():
    return f'{svg_path}: its data {data} is missing'
  if sha256_of(data) != sha:
    return f'{svg_path}: stale, {data.name} changed since it was drawn'
  return None


def redraw_main(argv: Optional[Sequence[str]], prog: str, description: str,
                what: str, draw_file: Callable[[Path], Path]) -> int:
  """The redraw command both chart tools share: draw every JSON named, say
  which could not be drawn and why, exit 2 if any."""
  parser = argparse.ArgumentParser(prog=prog, description=description)
  parser.add_argument('paths', nargs='+', type=Path, help=what)
  status = 0
  for path in parser.parse_args(argv).paths:
    try:
      print(draw_file(path))
    except (OSError, ValueError) as exc:
      print(f'error: {path}: {exc}', file=sys.stderr)
      status = 2
  return status
