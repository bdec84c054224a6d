{#- The rows that share a value of `columns`: the model's grain is violated (dbt_utils has this test, but
    packages need the network, which evaluation machines often lack). -#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as rows_per_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
