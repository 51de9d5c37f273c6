"""attentext inside other engines: `ray.Predictor` for Ray Data's `map_batches`.

Each integration is a module of its own, imported only by the user who asks for it; none of them
is imported by `import attentext`.
"""
