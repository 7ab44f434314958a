from miscomp.cli import app

app(prog_name="miscomp")
