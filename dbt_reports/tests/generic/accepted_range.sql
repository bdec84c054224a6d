{#- The rows whose column lies outside [min_value, max_value]. Each bound is a SQL expression: a literal (0) or
    another column of the same row (value_min), so a metric can be checked against its own declared range.
    NULL values and NULL bounds are not checked (not_null covers the first; unbounded metrics have the second). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

{%- set lower_ok = '>=' if inclusive else '>' -%}
{%- set upper_ok = '<=' if inclusive else '<' -%}

select *
from {{ model }}
where {{ column_name }} is not null
  and (
    {%- if min_value is not none %}
        not ({{ column_name }} {{ lower_ok }} {{ min_value }})
    {%- else %}
        false
    {%- endif %}
    {%- if max_value is not none %}
        or not ({{ column_name }} {{ upper_ok }} {{ max_value }})
    {%- endif %}
  )

{% endtest %}
