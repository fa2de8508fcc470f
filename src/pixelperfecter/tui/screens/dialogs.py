"""Modal dialogs: help, open (file picker), typed cell size/offsets, notes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label, Static, TextArea

from ..paths import is_image_file, parse_dropped_path
from ..session import MIN_CELL, TypedValues, parse_optional_float, parse_optional_size


def key_label(key: str) -> str:
    names = {
        "left_square_bracket": "[", "right_square_bracket": "]", "left_curly_bracket": "{",
        "right_curly_bracket": "}", "minus": "-", "equals_sign": "=", "comma": ",", "full_stop": ".",
        "question_mark": "?",
    }
    return names.get(key, key)


class HelpScreen(ModalScreen[None]):
    """Every key binding of the main screen, generated from its BINDINGS (always in sync)."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, bindings: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = list(bindings)

    def compose(self) -> ComposeResult:
        table = Table(title="Keys", expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        for key, description in self.rows:
            table.add_row(Text(key), Text(description))
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(table, id="help-table")
            yield Label("Paste or drop an image or folder path into the terminal to open it.  Esc closes.")


class ImageTree(DirectoryTree):
    """Folders and image files only."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or is_image_file(p))]


class OpenScreen(ModalScreen[Path | None]):
    """Pick an image (Enter on a file) or a folder (ctrl+b on it) or type/paste a path."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+b", "open_folder", "Open highlighted folder as batch"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        with Vertical(id="open-box", classes="dialog"):
            yield Label(f"Open an image (Enter) or a folder as a batch (ctrl+b) — {self.root}", classes="dialog-title", markup=False)
            yield ImageTree(self.root, id="open-tree")
            yield Input(placeholder="…or type / paste a path and press Enter", id="open-path")

    def on_mount(self) -> None:
        self.query_one(ImageTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def action_open_folder(self) -> None:
        tree = self.query_one(ImageTree)
        node = tree.cursor_node
        if node is not None and node.data is not None:
            path = Path(node.data.path)
            self.dismiss(path if path.is_dir() else path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = parse_dropped_path(event.value)
        if path is None:
            self.notify("type a path first", severity="warning")
            return
        self.dismiss(path)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question (y / Enter = yes, n / Esc = no)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Label(self.question, id="confirm-question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class ParamsInput(Input):
    """An Input where ctrl+a selects everything (to type over a value)."""

    BINDINGS = [Binding("ctrl+a", "select_all", "Select all", show=False)]


class ParamsScreen(ModalScreen[TypedValues | None]):
    """Type a cell size (w, h), offsets and the output size in cells; blank or 'auto' means detect.

    Fields the user forced start with the forced value; detected ones start empty (auto), with
    the detected value as the placeholder, so Enter on an untouched dialog changes nothing."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, values: TypedValues, detected: TypedValues = (None, None, None, None, None)) -> None:
        super().__init__()
        self.values = values
        self.detected = detected

    def compose(self) -> ComposeResult:
        def text(v: float | tuple[int, int] | None) -> str:
            if isinstance(v, tuple):
                return f"{v[0]}x{v[1]}"
            return "" if v is None else f"{v:g}"

        labels = ("cell width (px)", "cell height (px; blank = width)", "offset x (px)", "offset y (px)", "output size (cells, WxH)")
        ids = ("cell-w", "cell-h", "offset-x", "offset-y", "size")
        with Vertical(id="params-box", classes="dialog"):
            yield Label("Type values (blank or 'auto' = detect), Enter applies, Esc cancels", classes="dialog-title")
            for label, input_id, value, found in zip(labels, ids, self.values, self.detected):
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    hint = "auto" if found is None else f"auto (detected {text(found)})"
                    yield ParamsInput(text(value), id=input_id, placeholder=hint)
            yield Label("", id="params-error")
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cell-w", Input).focus()

    def _collect(self) -> None:
        try:
            cell_w = parse_optional_float(self.query_one("#cell-w", Input).value, "cell width", MIN_CELL)
            cell_h = parse_optional_float(self.query_one("#cell-h", Input).value, "cell height", MIN_CELL)
            offset_x = parse_optional_float(self.query_one("#offset-x", Input).value, "offset x")
            offset_y = parse_optional_float(self.query_one("#offset-y", Input).value, "offset y")
            size = parse_optional_size(self.query_one("#size", Input).value)
        except ValueError as exc:
            self.query_one("#params-error", Label).update(str(exc))
            return
        if cell_h is None:
            cell_h = cell_w
        if cell_w is None and cell_h is not None:
            cell_w = cell_h
        self.dismiss((cell_w, cell_h, offset_x, offset_y, size))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._collect()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self._collect()
        else:
            self.dismiss(None)


class NotesScreen(ModalScreen[str | None]):
    """Free-text notes for this image (saved with the next verdict)."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Save notes"),
    ]

    def __init__(self, notes: str) -> None:
        super().__init__()
        self.notes = notes

    def compose(self) -> ComposeResult:
        with Vertical(id="notes-box", classes="dialog"):
            yield Label("Notes (ctrl+s saves, Esc cancels)", classes="dialog-title")
            yield TextArea(self.notes, id="notes-text")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)
