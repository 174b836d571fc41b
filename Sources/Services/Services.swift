// The in-process services (DESIGN.md "Services"): see the folders of this module.
