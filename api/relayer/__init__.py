"""Protocol v2 relayer: posts accepted schedules before their gates and settles every period
that has ended (`api.relayer.service.Relayer.run_once`, looped by `api.relayer.runner`)."""
