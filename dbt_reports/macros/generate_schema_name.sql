{#- Use `+schema` as given (`reports`, not dbt's default `main_reports`): `llmeval report` and notebooks read
    `reports.leaderboard` from a file that only this project writes to, so no per-developer prefix is needed. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
