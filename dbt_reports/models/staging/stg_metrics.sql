with

source as (

    select * from {{ source('evals', 'metrics') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        spec_hash,
        metric,

        -- numerics
        value,
        stderr,
        n,
        n_clusters,
        value_min,
        value_max,

        -- booleans
        is_primary,
        higher_is_better as is_higher_better

    from source

)

select * from renamed
