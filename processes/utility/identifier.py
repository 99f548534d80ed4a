"""ImageIdentifier: rename an image window (PixInsight ImageIdentifier)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from procfw.params import String, param
from procfw.process import Process, ProcessResult, ProgressCallback
from procfw.workspace import is_valid_id

if TYPE_CHECKING:
    from procfw.workspace import MaskRef, View

_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"


class ImageIdentifier(Process):
    """Give the target image window a new identifier.

    Executed on a main view, it renames the window through the workspace: previews
    (``new->Preview01``), masks that name the window and the current view follow.  The
    pixels do not change.  PixInsight lists ImageIdentifier in the view's processing
    history; procfw treats the rename as a workspace operation, not a processing step:
    it is not recorded in the history (undo restores pixels, not ids).
    """

    process_id = "ImageIdentifier"
    categories = ("Image",)
    is_history_updater = False
    is_maskable = False

    id: str = param(
        String(
            default="",
            allowed_characters=_ID_CHARACTERS,
            description="The new identifier of the image window (letters, digits and _, not starting with a digit).",
        )
    )

    def validate(self) -> None:
        if self.id and not is_valid_id(self.id):
            raise self.invalid("id", self.id, "an identifier must not start with a digit")

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        if not self.id:
            return False, "no identifier given (parameter id is empty)"
        if view.is_preview:
            return False, "ImageIdentifier renames image windows; run it on a main view"
        workspace = view.workspace
        if workspace is None:
            return False, "the view belongs to no workspace"
        if self.id != view.window.id and self.id in workspace:
            return False, f"an image window '{self.id}' already exists"
        return True, ""

    def execute_on(
        self, view: View, *, mask: MaskRef | None = None, progress: ProgressCallback | None = None
    ) -> ProcessResult:
        self.require_executable_on(view)
        old = view.window.id
        assert view.workspace is not None
        view.workspace.rename_window(old, self.id)
        return ProcessResult(
            process_id=self.process_id,
            target=self.id,
            outputs={"previousId": old, "id": self.id},
        )
