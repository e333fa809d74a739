"""Daily rebalancing: strategies say what to hold, the planner turns that into orders."""
