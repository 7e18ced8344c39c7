"""Runtime elements bound to storage: workflows, tasks, work items, policies, activities."""
