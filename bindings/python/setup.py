"""Builds the extension splicer._core from the SWIG wrapper and the C core.

The core's sources are not copied into this directory: ``core`` is a
symbolic link to the repository's ``core/``, which setuptools follows, so
an sdist carries real copies of the files and a wheel is built from them.
"""

from glob import glob

from setuptools import Extension, setup

if not glob("core/src/*.c"):
    raise SystemExit(
        "splicer: the C core is missing (core/src/*.c): build from the repository "
        "(bindings/python, where core links to ../../core) or from an sdist"
    )

setup(
    ext_modules=[
        Extension(
            "splicer._core",
            sources=["splicer_wrap.c", *sorted(glob("core/src/*.c"))],
            include_dirs=["core/include", "core/src"],
            define_macros=[("_GNU_SOURCE", None)],
            extra_compile_args=["-std=gnu11", "-fvisibility=hidden"],
        )
    ],
)
