"""Model definitions as plain torch.nn.Modules, sized from the model YAML."""
