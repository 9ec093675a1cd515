"""Speed measurements of the zoo: input pipelines against the models they feed."""
