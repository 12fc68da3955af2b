"""Offset mapping, ownership and cross-window overlap rules."""
import pytest
from model_handler.span_rules import resolve_overlaps, to_document_entities
from common.records import Entity, Window

pytestmark = pytest.mark.unit


def window(text, char_start, own_start, own_end, doc_len=1000):
  return Window('k', 'd', 0, 2, char_start, text, own_start, own_end, 3, 10,
                doc_len, 100)


def test_offsets_shift_into_document_and_ownership_filters():
  doc = 'xxxxx Angela Merkel met Olaf Scholz'
  win_text = doc[6:]
  w = window(win_text, 6, own_start=0, own_end=20, doc_len=len(doc))
  found = [Entity(0, 13, 'Angela Merkel', 'person', 0.9),
           Entity(18, 29, 'Olaf Scholz', 'person', 0.8)]
  mapped = to_document_entities(w, found)
  assert mapped == [Entity(6, 19, 'Angela Merkel', 'person', 0.9)]
  assert doc[6:19] == mapped[0].text


def test_flat_resolution_keeps_higher_score_across_windows():
  a = Entity(0, 10, 'a', 'person', 0.7)
  b = Entity(5, 15, 'b', 'location', 0.9)
  c = Entity(20, 25, 'c', 'person', 0.6)
  assert resolve_overlaps([a, b, c], flat=True, multi_label=False) == [b, c]


def test_nested_resolution_keeps_nested_drops_crossing():
  outer = Entity(0, 20, 'o', 'organization', 0.9)
  inner = Entity(5, 10, 'i', 'location', 0.8)
  crossing = Entity(15, 30, 'x', 'person', 0.7)
  assert resolve_overlaps([outer, inner, crossing], flat=False,
                          multi_label=False) == [outer, inner]


def test_multi_label_keeps_same_span_with_two_labels():
  a = Entity(0, 5, 'Paris', 'location', 0.9)
  b = Entity(0, 5, 'Paris', 'person', 0.6)
  assert resolve_overlaps([a, b], True, True) == [a, b]
  assert resolve_overlaps([a, b], True, False) == [a]
