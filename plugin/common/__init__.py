"""What the Processing provider and the GUI share: settings keys, resource paths, layer styles."""
