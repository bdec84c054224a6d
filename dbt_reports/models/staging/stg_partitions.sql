with

source as (

    select * from {{ source('evals', 'partitions') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        profile,  -- the profile id results are stored under (name, or name~digest for a run with overrides)
        spec_hash,
        dataset_version,
        weights_revision,
        run_id,
        nullif(judge, '') as judge,  -- judged benchmarks only (MT-Bench): who judged and how

        -- how it was evaluated
        profile_label,
        variant,
        num_fewshot,
        chat_template as is_chat_template,
        reference,
        primary_metric,
        fixture as is_fixture,

        -- numerics
        samples,

        -- timestamps
        materialized_at

    from source

)

select * from renamed
