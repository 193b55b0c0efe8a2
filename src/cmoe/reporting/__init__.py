"""Tables, figures, costs and experiment tracking."""
