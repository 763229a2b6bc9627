"""The CPU line of every peer table: `model name` with `cpu family` and `model` from
/proc/cpuinfo, as `symplode_runtime::machine` prints it for our side (a virtual machine's
"AMD EPYC" alone does not tell a Zen 3 from a Zen 5)."""

import platform


def cpu_name():
    """`NAME (family F model M)` of the first processor, or what `platform` knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "?"
    family, model = fields.get("cpu family"), fields.get("model")
    if family and model:
        name += f" (family {family} model {model})"
    return name


if __name__ == "__main__":
    print(cpu_name())
