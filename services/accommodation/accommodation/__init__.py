"""The accommodation service: the ADA interactive process, role-filtered views,
schedule conflicts."""
