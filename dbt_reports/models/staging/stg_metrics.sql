with

source as (

    select * from {{ source('evals', 'metrics') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        profile,
        spec_hash,
        metric,
        item_group,  -- null: the whole dataset; else one group (MMLU subject, ...) of the same result

        -- numerics
        value,
        stderr,
        n,
        n_clusters,
        ci_low,  -- 95%, scoring.stats.interval_95 (Wilson for 0/1 scores): computed once, in Python
        ci_high,
        value_min,
        value_max,

        -- booleans
        is_primary,
        higher_is_better as is_higher_better

    from source

)

select * from renamed
