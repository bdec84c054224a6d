with

source as (

    select * from {{ source('evals', 'sample_scores') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        profile,
        spec_hash,
        item_id,
        item_group,
        metric,

        -- score
        value,
        answer,
        target,
        explanation,

        -- booleans
        unanswered as is_unanswered

    from source

)

select * from renamed
