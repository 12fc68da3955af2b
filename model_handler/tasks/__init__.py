"""The tasks a GLiNER multi-task model can do, one module each."""
from model_handler.tasks.base import PromptSpec, Task
from model_handler.tasks.classification import ClassificationTask
from model_handler.tasks.ner import NerTask
from model_handler.tasks.open_extraction import OpenExtractionTask
from model_handler.tasks.qa import QaTask
from model_handler.tasks.relations import RelationsTask
from model_handler.tasks.summary import SummaryTask

TASK_TYPES = {
    'ner': NerTask,
    'relations': RelationsTask,
    'qa': QaTask,
    'summary': SummaryTask,
    'classification': ClassificationTask,
    'open_extraction': OpenExtractionTask,
}

__all__ = ['PromptSpec', 'Task', 'TASK_TYPES'] + [
    t.__name__ for t in TASK_TYPES.values()
]
