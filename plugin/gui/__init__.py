"""Desktop side of TerraLens: toolbar, menu, panels and dialogs."""
